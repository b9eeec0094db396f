"""The model zoo: every family of the survey as named configs, each with its reference figures.

Each family module registers, on import, its config kind (so stored records and config files parse),
its named models (`spaces.MODELS`), their reference figures (`REFERENCES`: params and flops from the
paper or library they come from) and a small design space around the published settings.
"""

from __future__ import annotations

from spaces.zoo.references import FAMILIES, REFERENCES, Reference, register_reference

__all__ = ["FAMILIES", "REFERENCES", "Reference", "register_reference"]
