"""Keeping a live call current on a busy machine.

An agent's laptop also runs the softphone, a browser and the CRM. When speech recognition falls
behind the call, work is shed in this order, so that the caller's final utterances (and with
them the caller's mood) stay on time:

  1. behind by SHED_PARTIALS s: no more partial passes (text while someone is still talking);
  2. behind by DEFER_AGENT s: the agent's own audio is put aside and transcribed once the call
     has caught up (or at its end): the caller's speech comes first;
  3. behind by ECONOMY s: cheaper decoding for what is still transcribed (greedy, no beam).

Everything comes back when the lag is under CAUGHT_UP s. Deferred agent audio is worked off, a
slice per block, whenever the call is less than CATCH_UP_BELOW s behind (not only once all has
come back: on a machine that stays busy that moment may never come, and the agent's words would
all wait for the hang-up). Recorded audio is never dropped: the
recorder gets every block before the pipeline does, and deferred agent audio is transcribed
later, never thrown away. The user sees the current lag (updated as it changes) and when it
clears; `Shedding` counts what was shed, for the benchmark and the call's record.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

SHED_PARTIALS = 1.0
DEFER_AGENT = 2.0
ECONOMY = 3.0
CAUGHT_UP = 0.5
WARN = 2.0  # seconds behind before the user is told
UPDATE_EVERY = 1.0  # seconds between updates of the lag shown while behind
BACKLOG_SLICE = 0.05  # wall seconds spent on deferred agent audio per block
CATCH_UP_BELOW = SHED_PARTIALS  # deferred agent audio is worked off while less behind than this


@dataclass
class Shedding:
    partial_passes: int = 0  # partial passes skipped
    agent_seconds_deferred: float = 0.0  # seconds of the agent's audio put aside for later
    economy_seconds: float = 0.0  # seconds of audio decoded the cheap way
    max_lag: float = 0.0  # the most the call fell behind (wall seconds)
    agent_seconds_at_hangup: float = 0.0  # deferred agent audio still waiting when the call ended
    finish_seconds: float = 0.0  # wall seconds from the end of the call's audio to its last event
    passes_ahead: int = 0  # final passes run after 0.25 s of silence, ahead of the segmenter
    passes_ahead_used: int = 0  # ... whose result was used (the rest: the speaker went on)
    spare_passes: int = 0  # passes run on two threads, the machine having a core to spare

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def level_for(lag: float, current: int) -> int:
    """The shedding level for a lag: it rises at each threshold and falls back to 0 only when
    the call has caught up, so it does not flicker around a threshold."""
    wanted = 3 if lag >= ECONOMY else 2 if lag >= DEFER_AGENT else 1 if lag >= SHED_PARTIALS else 0
    if wanted >= current:
        return wanted
    return 0 if lag < CAUGHT_UP else current


class LagNotice:
    """When to tell the user how far behind recognition is: on falling behind, as the figure
    changes (at most once a second), and once when it has caught up."""

    def __init__(self):
        self.behind = False
        self._shown = 0.0
        self._at = 0.0

    def message(self, lag: float) -> tuple[str, str] | None:
        now = time.monotonic()
        if lag >= WARN and (not self.behind or (abs(lag - self._shown) >= 0.5
                                                 and now - self._at >= UPDATE_EVERY)):
            self.behind, self._shown, self._at = True, lag, now
            return ("warning", f"speech recognition is {lag:.1f} s behind the call; the caller "
                               f"comes first, your own words and live text catch up later")
        if self.behind and lag < CAUGHT_UP:
            self.behind = False
            return ("info", "speech recognition has caught up")
        return None
