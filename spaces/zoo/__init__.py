"""The model zoo: every family of the survey as named configs, each with its reference figures.

Each family module registers, on import, its config kind (so stored records and config files parse),
its named models (`spaces.MODELS`), their reference figures (`REFERENCES`: params and flops from the
paper or library they come from) and a small design space around the published settings.
"""

from __future__ import annotations

from spaces.zoo.references import FAMILIES, REFERENCES, Reference, register_reference

__all__ = ["FAMILIES", "REFERENCES", "Reference", "register_reference"]

from spaces.zoo import alexnet as alexnet  # registers (AlexNet, the two-GPU original)
from spaces.zoo import densenet as densenet  # registers (DenseNet-121/161/169/201/264)

# registers (EfficientNet B0-B7, V2; MobileNetV2/V3, MnasNet)
from spaces.zoo import efficientnet as efficientnet

# registers (GoogLeNet, Inception v3, v4, -ResNet v1, v2)
from spaces.zoo import inception as inception
from spaces.zoo import lenet as lenet  # registers (LeNet 1989, LeNet-5)

# registers (MobileNet V1, alpha and rho variants)
from spaces.zoo import mobilenet_v1 as mobilenet_v1

# registers (ResNet, ResNeXt, SE-ResNet, SENet-154; RegNet references)
from spaces.zoo import residual as residual
from spaces.zoo import shufflenet as shufflenet  # registers (ShuffleNet V1 g1-g8, V2 x0.5-x2.0)
from spaces.zoo import vgg as vgg  # registers (VGG A, A-LRN, B, C, D, E; _bn)
