"""Label TSVs: the class column is the second, unless the header names it."""

from __future__ import annotations

from edge_sdk.vision.evaluate import read_label_tsv


def test_calibration_labels_use_the_named_imagenet_column(data_dir):
    rows = read_label_tsv(data_dir / "images" / "calibration" / "labels.tsv")
    assert len(rows) == 72 and rows[0][1] == 107 and rows[0][0].name == "aquarium_jellyfish_001.jpg"


def test_shared_photo_labels_use_the_second_column(data_dir):
    rows = dict((p.name, i) for p, i in read_label_tsv(data_dir / "images" / "labels.tsv"))
    assert rows["chelsea.png"] == 281 and "astronaut.png" not in rows  # -1: no ImageNet class
