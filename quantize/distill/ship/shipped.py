"""Students whose trained weights ship with the repository, so ``edge-sdk prepare`` builds their variants.

A shipped student is two files in ``quantize/distill/shipped/``: ``<bundle>.safetensors`` holds only the
tensors that differ from the teacher's package weights (in float16), and ``<bundle>.json`` records their
sha256, the parent weights and their license, the student's recipe and the figures measured when it was
trained. ``prepare`` rebuilds the student from the teacher's package weights plus these tensors, then
measures and gates it like a freshly trained one; ``edge-sdk distill ...`` stays the way to retrain, and
``python -m edge_sdk.quantize.distill.ship.shipped save text WORKDIR`` replaces the shipped files from a run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edge_sdk.bundle import sha256_file
from edge_sdk.errors import BundleError, InvalidInputError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped"
DTYPE = torch.float16


@dataclass(frozen=True)
class ShippedStudent:
    """What ``<bundle>.json`` says of a shipped student.

    Attributes:
        bundle: The teacher's bundle, which receives ``distilled`` and ``distilled-int8``.
        capability: ``text``, ``speech`` or ``vision``.
        file: The safetensors file name beside the record.
        sha256: Of that file.
        tensors: How many tensors it holds (those that differ from the teacher's).
        parent: The teacher's weights: package, version, license.
        recipe: How the student was made (the training run's recipe and configuration).
        trained_metrics: What the training run measured (held out), for reference; ``prepare`` measures again.
    """

    bundle: str
    capability: str
    file: str
    sha256: str
    tensors: int
    parent: dict
    recipe: dict
    trained_metrics: dict

    @property
    def path(self) -> Path:
        return SHIPPED_DIR / self.file


def record(bundle: str) -> ShippedStudent | None:
    """The shipped student of ``bundle``, or None when none ships."""
    path = SHIPPED_DIR / f"{bundle}.json"
    return ShippedStudent(**json.loads(path.read_text())) if path.is_file() else None


def load_tensors(student: ShippedStudent) -> dict[str, torch.Tensor]:
    """The shipped tensors in float32, after checking the file's sha256.

    Raises:
        BundleError: The file is missing or its bytes are not the recorded ones.
    """
    from safetensors.torch import load_file

    if not student.path.is_file():
        raise BundleError(f"shipped student {student.path} is missing (its record {student.bundle}.json names it)")
    got = sha256_file(student.path)
    if got != student.sha256:
        raise BundleError(f"shipped student {student.path}: sha256 {got}, recorded {student.sha256}")
    return {k: v.float() for k, v in load_file(str(student.path)).items()}


def differing(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], origin: dict[str, str]) -> dict[str, torch.Tensor]:
    """The student's tensors that are not the teacher's tensor they started from (``origin``: student name ->
    teacher name; a name not in it is compared with the teacher's tensor of the same name), as stored (float16)."""
    out = {}
    for name, value in student.items():
        parent = teacher.get(origin.get(name, name))
        if parent is None or parent.shape != value.shape or not torch.equal(parent.to(DTYPE), value.to(DTYPE)):
            out[name] = value.detach().to(DTYPE).contiguous()
    return out


def apply(state: dict[str, torch.Tensor], shipped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` (a student cut from the teacher) with the shipped tensors in place.

    Raises:
        InvalidInputError: A shipped tensor names no tensor of the student, or has another shape.
    """
    wrong = [k for k, v in shipped.items() if k not in state or state[k].shape != v.shape]
    if wrong:
        raise InvalidInputError(f"shipped tensors {wrong[:5]} do not fit the student cut from the teacher")
    return {**state, **shipped}


def save(student: ShippedStudent, tensors: dict[str, torch.Tensor]) -> Path:
    """Write ``tensors`` and the record of ``student`` (its sha256 and count filled in); returns the record's path."""
    from safetensors.torch import save_file

    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(student.path), metadata={"bundle": student.bundle, "dtype": str(DTYPE)})
    filled = ShippedStudent(**{**asdict(student), "sha256": sha256_file(student.path), "tensors": len(tensors)})
    out = SHIPPED_DIR / f"{student.bundle}.json"
    out.write_text(json.dumps(asdict(filled), indent=1, default=str) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """``save CAPABILITY WORKDIR``: ship the student a training run left in ``WORKDIR``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "save" or args[1] != "text":
        print("usage: python -m edge_sdk.quantize.distill.ship.shipped save text WORKDIR", file=sys.stderr)
        return 2
    from edge_sdk.quantize.distill.students.text import ship_run

    print(ship_run(Path(args[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
