import os

import torch

# Two CI cores shared by two pytest-xdist workers: more than one intra-op thread per worker
# oversubscribes the machine and makes small convolutions tens of times slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
