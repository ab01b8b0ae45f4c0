"""``edge-slr record OUT --signs a,b,c --clips N --signer NAME``: build the config, open the source, run the session."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_slr.errors import UserError
from edge_slr.live.sinks import display_available
from edge_slr.live.sources import FrameSource, open_source
from edge_slr.record.dataset import RecordFolder, check_signer, parse_signs, summary
from edge_slr.record.prompters import LinePrompter, WindowPrompter
from edge_slr.record.session import Prompter, Session, SessionResult, plan_prompts


@dataclass(frozen=True)
class RecordConfig:
    """Everything one recording session needs; built from the CLI arguments."""

    out: Path
    signs: tuple[str, ...]
    clips: int
    signer: str
    source: str = "0"
    seconds: float = 2.0
    countdown: float = 3.0
    every_frame: bool = False  # files and synth: read every frame as fast as it decodes (tests, conversions)

    def __post_init__(self) -> None:
        if not self.signs:
            raise UserError("no signs to record; give them with --signs a,b,c")
        check_signer(self.signer)
        if self.clips < 1:
            raise UserError(f"--clips {self.clips} records nothing; give the repetitions per sign (1 or more)")
        if self.seconds <= 0:
            raise UserError(f"--seconds {self.seconds:g} is not a clip length; give a positive number of seconds")


def record(config: RecordConfig, prompter: Prompter, *, stop: threading.Event | None = None,
           source: FrameSource | None = None) -> SessionResult:
    """Record every prompt of ``config`` into its folder; ``source`` replaces opening ``config.source``."""
    folder = RecordFolder(config.out, config.signer)  # checks the folder before the camera turns on
    source = source or open_source(config.source, every_frame=config.every_frame)
    try:
        session = Session(source, folder, prompter, seconds=config.seconds, countdown=config.countdown, stop=stop)
        result = session.run(plan_prompts(config.signs, config.clips))
    finally:
        source.close()
    if result.stopped == "ended":
        kept = len(result.saved)
        raise UserError(f"{source.name} ended after {kept} of {result.planned} clips; the {kept} finished clip(s) "
                        f"are kept in {folder.root} (use a longer video, or fewer --clips or --signs)")
    return result


def config_from_args(args: argparse.Namespace) -> RecordConfig:
    """The one :class:`RecordConfig` of ``edge-slr record`` from its parsed arguments."""
    return RecordConfig(out=Path(args.out), signs=parse_signs(args.signs), clips=args.clips, signer=args.signer,
                        source=args.source, seconds=args.seconds, countdown=args.countdown,
                        every_frame=args.every_frame)


def record_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr record``: Ctrl-C (or ``q`` in the window) ends it, keeping every finished clip."""
    config = config_from_args(args)
    show = not args.headless and display_available()
    if not args.headless and not show:
        print("record: no display found; prompting on stderr (--headless)", file=sys.stderr)
    stop = threading.Event()

    def on_sigint(signum, frame) -> None:  # first Ctrl-C: stop at the next frame; a second one: at once
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    prompter = WindowPrompter() if show else LinePrompter()
    try:
        result = record(config, prompter, stop=stop)
    finally:
        prompter.close()
        signal.signal(signal.SIGINT, previous)
    rows = RecordFolder(config.out, config.signer).rows()
    done = f"{len(result.saved)} of {result.planned} clips"
    how = {"interrupt": "interrupted", "quit": "stopped"}.get(result.stopped or "", "recorded")
    print(f"record: {how}: {done} saved for signer {config.signer} in {config.out} "
          f"(manifest.csv: {summary(rows)})", file=sys.stderr)
    return 130 if result.stopped == "interrupt" else 0
