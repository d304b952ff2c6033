"""The slim Mask R-CNN behind ``demo/shapes``: torchvision's own detection classes, CPU-sized.

A full torchvision Mask R-CNN is ~10x too slow to train or serve on two CPU cores; this one keeps the
same heads and losses but uses a small convolutional backbone with a 64-channel FPN (~1.6M parameters).
The FPN starts at stride 8: a stride-4 level doubled the training step time for little gain on shapes
of 16 px and more.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

FPN_CHANNELS = 64
WIDTHS = (24, 32, 64, 96, 128)  # stages at strides 2, 4, 8, 16, 32
FIRST_FPN_STAGE = 2  # index into WIDTHS: stride 8


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SlimBackbone(nn.Module):
    """Five strided conv stages feeding an FPN over strides 8, 16 and 32 (plus a pooled level)."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        cin = 3
        for w in WIDTHS:
            self.stages.append(_block(cin, w, 2))
            cin = w
        self.fpn = FeaturePyramidNetwork(list(WIDTHS[FIRST_FPN_STAGE:]), FPN_CHANNELS, extra_blocks=LastLevelMaxPool())
        self.out_channels = FPN_CHANNELS

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= FIRST_FPN_STAGE:
                feats[str(len(feats))] = x
        return self.fpn(feats)


def build_slim_maskrcnn(num_classes: int, min_size: int = 320, max_size: int = 512) -> MaskRCNN:
    """Build the slim Mask R-CNN; ``num_classes`` counts the background class."""
    sizes = ((12, 24), (32, 56), (80, 128), (160, 256))
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=((0.6, 1.0, 1.6),) * len(sizes))
    levels = ["0", "1", "2"]
    return MaskRCNN(
        SlimBackbone(),
        num_classes=None,
        min_size=min_size,
        max_size=max_size,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=600,
        rpn_post_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=400,
        rpn_post_nms_top_n_test=120,
        rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(FPN_CHANNELS * 49, 256),
        box_predictor=FastRCNNPredictor(256, num_classes),
        box_batch_size_per_image=128,
        box_detections_per_img=100,
        box_score_thresh=0.05,
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(FPN_CHANNELS, [64, 64], 1),
        mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
    )
