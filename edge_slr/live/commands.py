"""``edge-slr live`` and ``edge-slr demo``: build the config, run the pipeline, show or print what it found."""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from edge_slr.errors import UserError
from edge_slr.live.pipeline import LiveConfig, LivePipeline
from edge_slr.live.sinks import EventPrinter, VideoRecorder, Window, annotate, display_available
from edge_slr.live.smoothing import SignEvent, SmoothingConfig
from edge_slr.utils.atomic import write_json

STATS_EVERY = 5.0  # seconds between headless stats lines on stderr
DEMO_MODEL = "demo_r2plus1d_small_int8.tflite"  # package data in edge_slr/assets (recipe: export/)
DEMO_SIGNS = 20


def config_from_args(args: argparse.Namespace, source: str | None = None) -> LiveConfig:
    """The one :class:`LiveConfig` of a command from its parsed arguments."""
    smoothing = SmoothingConfig(ema=args.ema, on_threshold=args.on_threshold, off_threshold=args.off_threshold,
                                min_duration=args.min_duration, cooldown=args.cooldown)
    return LiveConfig(source=source or args.source, model=Path(args.model), threads=args.threads,
                      xnnpack=not args.no_xnnpack, delegate=args.delegate, stride=args.stride,
                      realtime=not args.every_frame,
                      every_frame=args.every_frame, hands_model=args.hands_model, gate_seconds=args.gate_seconds,
                      clip_seconds=args.clip_seconds, smoothing=smoothing, extra_latency_ms=args.extra_latency_ms,
                      max_seconds=args.max_seconds, truth=Path(args.truth) if args.truth else None, fps=args.fps)


def run_live(config: LiveConfig, *, show: bool, events: EventPrinter, record: Path | None = None,
             on_event=None, stats_stream=None) -> tuple[dict[str, Any], bool]:
    """Run one pipeline to its end; return its summary and whether it was interrupted (Ctrl-C, ``q``)."""
    def handle(event: SignEvent) -> None:
        events(event)
        if on_event is not None:
            on_event(event)

    pipeline = LivePipeline(config, on_event=handle)
    window = Window() if show else None
    recorder = VideoRecorder(record, pipeline.source.fps) if record else None
    state = {"index": -1, "next_stats": time.monotonic() + STATS_EVERY, "quit": False}

    def tick(p: LivePipeline) -> bool:
        view = p.view()
        if view is not None and view.index != state["index"]:
            state["index"] = view.index
            if window is not None or recorder is not None:
                image = annotate(view)
                if recorder is not None:
                    recorder.write(image)
                if window is not None and not window.show(image):
                    state["quit"] = True
                    return False
        if stats_stream is not None and time.monotonic() >= state["next_stats"]:
            state["next_stats"] += STATS_EVERY
            s = p.summary()
            stages = s["stages"]
            print(f"live: {s['frames_processed']} frames ({s['processed_fps']:.1f}/s), {s['frames_dropped']} dropped, "
                  f"{s['inferences']} inferences "
                  f"(p50 {stages.get('inference', {}).get('p50_ms', 0):.1f} ms), {len(s['events'])} events",
                  file=stats_stream, flush=True)
        return True

    interrupted = False
    try:
        pipeline.run(tick, tick_interval=0.01 if (window or recorder) else 0.1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        events.close()
        if recorder is not None:
            recorder.close(keep=True)
        if window is not None:
            window.close()
    return pipeline.summary(), interrupted or state["quit"]


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable end-of-run report: counters, score, stage latency table."""
    lines = [f"frames: {summary['frames_captured']} captured, {summary['frames_processed']} processed "
             f"({summary['processed_fps']:.1f}/s), {summary['frames_dropped']} dropped, "
             f"{summary['ring_overwritten']} overwritten unread; {summary['inferences']} inferences in "
             f"{summary['seconds']:.1f} s",
             f"staleness (age of the newest frame when inference starts): p50 {summary['staleness_ms']['p50']:.1f} ms, "
             f"p90 {summary['staleness_ms']['p90']:.1f} ms, max {summary['staleness_ms']['max']:.1f} ms"]
    if "precision" in summary:
        latency = summary["event_latency_ms_median"]
        lines.append(f"events: {len(summary['events'])} for {summary['signs']} signs; precision "
                     f"{summary['precision']:.3f}, recall {summary['recall']:.3f}, median event latency "
                     f"{'-' if latency is None else f'{latency:.0f} ms'} (sign end -> event)"
                     + (f"; {summary['repeats']} repeated" if summary.get("repeats") else ""))
        if summary["confusions"]:
            lines.append("confusions (truth -> predicted): " +
                         ", ".join(f"{a} -> {b}" for a, b in summary["confusions"]))
    else:
        lines.append(f"events: {len(summary['events'])}")
    lines.append(f"{'stage':<11}{'count':>7}{'p50 ms':>9}{'p90 ms':>9}{'mean ms':>9}")
    for stage, row in summary["stages"].items():
        lines.append(f"{stage:<11}{row['count']:>7}{row['p50_ms']:>9.2f}{row['p90_ms']:>9.2f}{row['mean_ms']:>9.2f}")
    return "\n".join(lines)


def live_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr live``."""
    config = config_from_args(args)
    show = not args.headless and display_available()
    if not args.headless and not show:
        print("live: no display found; running headless (events as JSON lines on stdout)", file=sys.stderr)
    events = EventPrinter(sys.stdout if not show else None, Path(args.events) if args.events else None)
    summary, interrupted = run_live(config, show=show, events=events, record=Path(args.record) if args.record else None,
                                    stats_stream=sys.stderr if not show else None)
    if args.stats_json:
        write_json(args.stats_json, summary)
    print(format_summary(summary), file=sys.stderr)
    return 130 if interrupted and not show else 0


def demo_model_path() -> Path:
    """The demo model shipped inside the package (so an installed wheel has it too)."""
    path = Path(str(resources.files("edge_slr") / "assets" / DEMO_MODEL))
    if not path.is_file():
        raise UserError(f"the demo model {DEMO_MODEL} is missing from the installed package; reinstall edge-slr")
    return path


def demo_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr demo``: the live pipeline on a generated stream by an unseen signer, scored."""
    from edge_slr.data.synth import plan_stream
    from edge_slr.live.sources import parse_synth_spec, plan_truth

    args.model = args.model or str(demo_model_path())
    spec = f"synth:{args.seed}:{args.signs}"
    config = config_from_args(args, source=spec)
    truth = plan_truth(plan_stream(parse_synth_spec(spec)), parse_synth_spec(spec).fps)
    spans = [(s.start_frame / truth.fps, (s.end_frame + 1) / truth.fps, s.label) for s in truth.signs]
    show = not args.headless and display_available()

    def print_event(event: SignEvent) -> None:
        near = [label for start, end, label in spans if start <= event.end <= end + config.smoothing.cooldown + 3]
        expected = near[-1] if near else "-"
        print(f"{event.end:7.1f} s  {event.label:<14} {event.confidence:5.2f}   {expected:<14} "
              f"{'ok' if expected == event.label else 'WRONG'}", flush=True)

    if not args.json:
        pace = "as fast as it runs (--every-frame)" if args.every_frame else "in real time"
        print(f"demo: {len(truth.signs)} signs by a signer not seen in training, {truth.frames / truth.fps:.0f} s of "
              f"video at {truth.fps:g} fps, played {pace}; model {Path(args.model).name}", flush=True)
        print(f"{'time':>9}  {'recognized':<14} {'conf':>5}   {'truth':<14}", flush=True)
    events = EventPrinter(None, Path(args.events) if args.events else None)
    summary, interrupted = run_live(config, show=show, events=events, on_event=None if args.json else print_event,
                                    record=Path(args.record) if args.record else None)
    if args.stats_json:
        write_json(args.stats_json, summary)
    print(json.dumps(summary) if args.json else format_summary(summary), flush=True)
    return 130 if interrupted and not show else 0
