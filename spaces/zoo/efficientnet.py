"""EfficientNet B0-B7 and V2-S/M/L, MobileNetV2/V3 and MnasNet as MBConv configs, with reference
figures.

Parameter counts are torchvision's (ImageNet, 1000 classes; torchvision.models docs, "num_params");
the tests check that the analytic counts (and the built models) equal them exactly. Flops are
torchvision's GFLOPS (multiply-adds at the listed resolution) where given, else the paper's.
"""

from __future__ import annotations

from functools import partial

from spaces.mbconv import B0_STAGES, MBConvConfig, MBConvSpace, efficientnet_b0, mbconv
from spaces.registry import register_model, register_space
from spaces.scaling import ScalingSpace, scale
from spaces.zoo.references import register_reference

TV = "torchvision.models docs (num_params, GFLOPS)"

# name: (width, depth, resolution, dropout) [EffNet], native resolutions of the paper
EFFICIENTNET = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}
# name: params (torchvision), GFLOPS (torchvision, at its own eval size)
EFFICIENTNET_REF = {
    "efficientnet_b0": (5_288_548, 0.39),
    "efficientnet_b1": (7_794_184, 0.69),
    "efficientnet_b2": (9_109_994, 1.09),
    "efficientnet_b3": (12_233_232, 1.83),
    "efficientnet_b4": (19_341_616, 4.39),
    "efficientnet_b5": (30_389_784, 10.27),
    "efficientnet_b6": (43_040_704, 19.07),
    "efficientnet_b7": (66_347_960, 37.75),
}
# torchvision's EfficientNetV2 stage tables (Fused-MBConv stages without SE; MBConv stages with SE
# 0.25)
EFFICIENTNET_V2 = {
    "efficientnet_v2_s": (
        24,
        (
            "fused1_k3_s1_c24_n2",
            "fused4_k3_s2_c48_n4",
            "fused4_k3_s2_c64_n4",
            "mb4_k3_s2_c128_n6_se0.25",
            "mb6_k3_s1_c160_n9_se0.25",
            "mb6_k3_s2_c256_n15_se0.25",
        ),
        384,
        0.2,
        21_458_488,
        8.37,
    ),
    "efficientnet_v2_m": (
        24,
        (
            "fused1_k3_s1_c24_n3",
            "fused4_k3_s2_c48_n5",
            "fused4_k3_s2_c80_n5",
            "mb4_k3_s2_c160_n7_se0.25",
            "mb6_k3_s1_c176_n14_se0.25",
            "mb6_k3_s2_c304_n18_se0.25",
            "mb6_k3_s1_c512_n5_se0.25",
        ),
        480,
        0.3,
        54_139_356,
        24.58,
    ),
    "efficientnet_v2_l": (
        32,
        (
            "fused1_k3_s1_c32_n4",
            "fused4_k3_s2_c64_n7",
            "fused4_k3_s2_c96_n7",
            "mb4_k3_s2_c192_n10_se0.25",
            "mb6_k3_s1_c224_n19_se0.25",
            "mb6_k3_s2_c384_n25_se0.25",
            "mb6_k3_s1_c640_n7_se0.25",
        ),
        480,
        0.4,
        118_515_272,
        56.08,
    ),
}


def efficientnet(name: str) -> MBConvConfig:
    width, depth, resolution, dropout = EFFICIENTNET[name]
    cfg = scale(efficientnet_b0(), depth=depth, width=width)
    return cfg.replace(resolution=resolution, dropout=dropout)


def efficientnet_v2(name: str) -> MBConvConfig:
    stem, stages, resolution, dropout, _, _ = EFFICIENTNET_V2[name]
    return mbconv(
        stages,
        stem_width=stem,
        head_width=1280,
        bn_eps=1e-3,
        dropout=dropout,
        drop_path=0.2,
        resolution=resolution,
    )


def mobilenet_v2() -> MBConvConfig:
    stages = (
        "mb1_k3_s1_c16_n1",
        "mb6_k3_s2_c24_n2",
        "mb6_k3_s2_c32_n3",
        "mb6_k3_s2_c64_n4",
        "mb6_k3_s1_c96_n3",
        "mb6_k3_s2_c160_n3",
        "mb6_k3_s1_c320_n1",
    )
    return mbconv(stages, stem_width=32, head_width=1280, act="relu6", dropout=0.2, drop_path=0.0)


_V3 = {
    "act": "hardswish",
    "se_base": "expanded",
    "se_divisor": 8,
    "se_act": "relu",
    "se_gate": "hardsigmoid",
    "bn_eps": 1e-3,
    "dropout": 0.2,
    "drop_path": 0.0,
}


def mobilenet_v3_large() -> MBConvConfig:
    # torchvision's per-block table, consecutive blocks of one kind merged into stages (expanded
    # widths 200 and 184 are the ratios 2.5 and 2.3 of 80)
    stages = (
        "mb1_k3_s1_c16_n1_relu",
        "mb4_k3_s2_c24_n1_relu",
        "mb3_k3_s1_c24_n1_relu",
        "mb3_k5_s2_c40_n3_se0.25_relu",
        "mb6_k3_s2_c80_n1",
        "mb2.5_k3_s1_c80_n1",
        "mb2.3_k3_s1_c80_n2",
        "mb6_k3_s1_c112_n2_se0.25",
        "mb6_k5_s2_c160_n3_se0.25",
    )
    return mbconv(stages, stem_width=16, head_width=960, head_hidden=1280, **_V3)


def mobilenet_v3_small() -> MBConvConfig:
    # expanded widths 72 = 4.5 x 16 and 88 = 3.67 x 24 (make_divisible rounds 88.08 to 88)
    stages = (
        "mb1_k3_s2_c16_n1_se0.25_relu",
        "mb4.5_k3_s2_c24_n1_relu",
        "mb3.67_k3_s1_c24_n1_relu",
        "mb4_k5_s2_c40_n1_se0.25",
        "mb6_k5_s1_c40_n2_se0.25",
        "mb3_k5_s1_c48_n2_se0.25",
        "mb6_k5_s2_c96_n3_se0.25",
    )
    return mbconv(stages, stem_width=16, head_width=576, head_hidden=1024, **_V3)


def mnasnet1_0() -> MBConvConfig:
    # the stem's depthwise-separable conv (dw 3x3 32, 1x1 16) is an MBConv with expansion 1
    stages = (
        "mb1_k3_s1_c16_n1",
        "mb3_k3_s2_c24_n3",
        "mb3_k5_s2_c40_n3",
        "mb6_k5_s2_c80_n3",
        "mb6_k3_s1_c96_n2",
        "mb6_k5_s2_c192_n4",
        "mb6_k3_s1_c320_n1",
    )
    return mbconv(stages, stem_width=32, head_width=1280, act="relu", dropout=0.2, drop_path=0.0)


for _name in EFFICIENTNET:
    register_model(_name, partial(efficientnet, _name))
    register_reference(
        _name,
        "efficientnet",
        params=EFFICIENTNET_REF[_name][0],
        flops=EFFICIENTNET_REF[_name][1] * 1e9,
        resolution=EFFICIENTNET[_name][2],
        source=TV,
        note="flops: torchvision's GFLOPS at its eval size (B2: 288 px)"
        if _name.endswith("b2")
        else "",
    )
for _name, _row in EFFICIENTNET_V2.items():
    register_model(_name, partial(efficientnet_v2, _name))
    register_reference(
        _name, "efficientnet_v2", params=_row[4], flops=_row[5] * 1e9, resolution=_row[2], source=TV
    )

register_model("mobilenet_v2", mobilenet_v2)
register_reference(
    "mobilenet_v2", "mobilenet_v2", params=3_504_872, flops=0.30e9, resolution=224, source=TV
)
register_model("mobilenet_v3_large", mobilenet_v3_large)
register_reference(
    "mobilenet_v3_large", "mobilenet_v3", params=5_483_032, flops=0.22e9, resolution=224, source=TV
)
register_model("mobilenet_v3_small", mobilenet_v3_small)
register_reference(
    "mobilenet_v3_small", "mobilenet_v3", params=2_542_856, flops=0.06e9, resolution=224, source=TV
)
register_model("mnasnet1_0", mnasnet1_0)
register_reference(
    "mnasnet1_0", "mnasnet", params=4_383_312, flops=0.31e9, resolution=224, source=TV
)

register_space(MBConvSpace())
register_space(ScalingSpace())

__all__ = [
    "B0_STAGES",
    "EFFICIENTNET",
    "EFFICIENTNET_V2",
    "efficientnet",
    "efficientnet_v2",
    "mnasnet1_0",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]
