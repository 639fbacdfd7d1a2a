"""Runs the expert's model for the scorer, in a process of its own, as the workspace user
without the family's protected group: it never sees the labels, only the masked inputs the
scorer sends, and answers with the logits at the masked positions.

    python -I child.py --in-fd R --out-fd W --submission DIR --family-dir DIR --protected FILE

Before anything of the expert's is imported, an audit hook refuses every open (and listing) of
the installed family's folder and of the protected files and folders (.build/val.npy, the
corpus under lmkit/data, resolved through the lmkit link), reports the attempt to the scorer and
ends this process, so "tried to read the protected validation data" is the score's message even
if the model catches the error. Every forward pass runs under rules.Guard.

Messages (multiprocessing Connection frames, JSON or raw bytes, never pickles):
  scorer -> child: {"vocab_size", "seq_len", "device", "autocast"}; then per batch
                   {"batch": [b, t]}, ids (int64 bytes), positions (int64 bytes); then
                   {"done": true}
  child -> scorer: {"ready": true, "parameters": n} or {"error": ...}; per batch
                   {"logits": [k, vocab]} and float32 bytes, or {"error": ...}
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

EXIT_PROTECTED = 4


def _send(conn: Connection, message: dict) -> None:
    conn.send_bytes(json.dumps(message).encode())


def install_audit_hook(conn: Connection, family_dir: str, protected: list[str]) -> None:
    """Refuse (and report, then exit) any open or listing under the family folder."""
    family = os.path.realpath(family_dir)
    secret = [os.path.realpath(p) for p in protected]  # files, or folders and all inside
    busy = [False]

    def hook(event: str, args: tuple) -> None:
        if busy[0] or event not in ("open", "os.listdir", "os.scandir", "os.chdir"):
            return
        path = args[0] if args else None
        if path is None or isinstance(path, int):
            return
        busy[0] = True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError, OSError):
            return
        finally:
            busy[0] = False
        inside = any(real == p or real.startswith(p + os.sep) for p in secret)
        if not (inside or real == family or real.startswith(family + os.sep)):
            return
        if real in secret or os.path.basename(real).startswith(("val", "valid")):
            what = "the protected validation data"
        else:
            what = "the task family's protected files"
        try:
            _send(conn, {"error": f"tried to read {what} ({real})", "kind": "protected"})
        finally:
            os._exit(EXIT_PROTECTED)

    sys.addaudithook(hook)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 800 else text[:800] + " ..."


def _load(submission: Path, config: dict):
    import torch

    sys.path.insert(0, str(submission))
    spec = importlib.util.spec_from_file_location("model", submission / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        raise Refused(f"importing model.py failed: {_describe(exc)}") from exc
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise Refused("model.py defines no function build_model(vocab_size, seq_len)")
    try:
        model = build(config["vocab_size"], config["seq_len"])
    except BaseException as exc:
        raise Refused(f"build_model raised {_describe(exc)}") from exc
    if not isinstance(model, torch.nn.Module):
        raise Refused(f"build_model returned {type(model).__name__}, not a torch.nn.Module")
    try:
        state = torch.load(submission / "model.pt", map_location="cpu", weights_only=True)
    except BaseException as exc:
        raise Refused(f"model.pt could not be loaded as a state_dict: {_describe(exc)}") from exc
    if not isinstance(state, dict):
        raise Refused(f"model.pt holds {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except BaseException as exc:
        raise Refused(f"model.pt does not fit build_model's model: {_describe(exc)}") from exc
    return model.to(config["device"]).eval()


class Refused(Exception):
    """The submission cannot be run; the message says why."""


def serve(conn_in: Connection, conn_out: Connection, submission: Path) -> None:
    import rules
    import torch

    config = json.loads(conn_in.recv_bytes())
    if config.get("done"):  # the scorer refused the submission before running it
        return
    try:
        model = _load(submission, config)
    except torch.cuda.OutOfMemoryError as exc:
        _send(
            conn_out,
            {
                "error": f"out of GPU memory (torch.cuda.OutOfMemoryError) loading "
                f"the model: {_describe(exc)}"
            },
        )
        return
    except Refused as exc:
        _send(conn_out, {"error": str(exc)})
        return
    _send(conn_out, {"ready": True, "parameters": sum(p.numel() for p in model.parameters())})
    device, vocab = config["device"], config["vocab_size"]
    roots = [str(submission)]
    while True:
        header = json.loads(conn_in.recv_bytes())
        if header.get("done"):
            return
        b, t = header["batch"]
        ids = torch.frombuffer(bytearray(conn_in.recv_bytes()), dtype=torch.int64).view(b, t)
        positions = torch.frombuffer(bytearray(conn_in.recv_bytes()), dtype=torch.int64)
        ids = ids.to(device)
        guard = rules.Guard(roots)
        try:
            with torch.no_grad():
                ctx = (
                    torch.autocast("cuda", dtype=torch.bfloat16)
                    if config.get("autocast") and device == "cuda"
                    else _nothing()
                )
                with ctx, guard:
                    out = model(ids)
        except torch.cuda.OutOfMemoryError as exc:
            _send(
                conn_out,
                {
                    "error": "out of GPU memory (torch.cuda.OutOfMemoryError) in the "
                    f"forward pass: {_describe(exc)}"
                },
            )
            return
        except BaseException as exc:
            if guard.violation is None:
                _send(
                    conn_out,
                    {
                        "error": f"the forward pass raised {_describe(exc)}",
                        "traceback": traceback.format_exc()[-3000:],
                    },
                )
                return
        if guard.violation is not None:
            _send(conn_out, {"error": guard.violation.message("run-time check"), "kind": "rules"})
            return
        if type(out) is not torch.Tensor:
            _send(
                conn_out,
                {"error": f"forward returned {type(out).__name__}, not a torch.Tensor of logits"},
            )
            return
        if tuple(out.shape) != (b, t, vocab):
            _send(
                conn_out,
                {
                    "error": f"wrong logits shape {tuple(out.shape)}, expected "
                    f"{(b, t, vocab)} (batch, sequence, vocabulary)"
                },
            )
            return
        picked = out.detach().reshape(b * t, vocab)[positions.to(device)].float().cpu()
        _send(conn_out, {"logits": [int(picked.shape[0]), vocab]})
        conn_out.send_bytes(picked.contiguous().numpy().tobytes())


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--submission", type=Path, required=True)
    parser.add_argument("--family-dir", required=True)
    parser.add_argument("--protected", action="append", default=[])
    args = parser.parse_args()
    conn_in = Connection(args.in_fd, writable=False)
    conn_out = Connection(args.out_fd, readable=False)
    install_audit_hook(conn_out, args.family_dir, args.protected)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # rules.py, copied alongside
    with contextlib.suppress(EOFError, BrokenPipeError):
        serve(conn_in, conn_out, args.submission.resolve())


if __name__ == "__main__":
    main()
