"""A real virtual microphone: a private PulseAudio server with a null sink whose monitor is
remapped as an input source. `play(wav)` feeds a file into it with paplay."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SINK = "callassist_sink"
SOURCE = "callassist_mic"
SINK_DESCRIPTION = "Softphone"  # its monitor reads "Monitor of Softphone"


class VirtualMic:
    def __init__(self):
        if not shutil.which("pulseaudio") or not shutil.which("paplay"):
            raise RuntimeError("pulseaudio/paplay missing: run scripts/setup.sh")
        self.dir = Path(tempfile.mkdtemp(prefix="pulse-"))
        runtime = self.dir / "runtime"
        runtime.mkdir(mode=0o700)
        self.env = {**os.environ, "HOME": str(self.dir), "XDG_RUNTIME_DIR": str(runtime),
                    "PULSE_SERVER": f"unix:{runtime}/pulse/native"}
        self.env.pop("PULSE_SINK", None)
        conf = self.dir / "default.pa"
        conf.write_text(
            "load-module module-native-protocol-unix\n"
            f"load-module module-null-sink sink_name={SINK} rate=16000 channels=1 "
            f"sink_properties=device.description={SINK_DESCRIPTION}\n"
            f"load-module module-remap-source source_name={SOURCE} master={SINK}.monitor\n"
            f"set-default-source {SOURCE}\n"
            f"set-default-sink {SINK}\n")
        subprocess.run(["pulseaudio", "-n", "-F", str(conf), "--daemonize=yes",
                        "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=yes"],
                       env=self.env, check=True, capture_output=True, timeout=30)
        for _ in range(100):
            if subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the PulseAudio test server did not start")

    def play(self, wav: str | Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", "-d", SINK, str(wav)], env=self.env)

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env=self.env, check=True, capture_output=True,
                              text=True, timeout=30).stdout.strip()

    def add_sink(self, name: str, description: str) -> str:
        """Another null sink (another program's output): its monitor is `NAME.monitor`.
        Returns the module id for `remove`."""
        return self.pactl("load-module", "module-null-sink", f"sink_name={name}", "rate=16000",
                          "channels=1", f"sink_properties='device.description=\"{description}\"'")

    def remove(self, module: str) -> None:
        """Unplug: unload the module (its sink and monitor source go away)."""
        self.pactl("unload-module", module)

    def play_to(self, sink: str, wav: str | Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", "-d", sink, str(wav)], env=self.env)

    def close(self) -> None:
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until_listening(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until `callassist listen` says it is listening (its stderr), or fail with what it said."""
    deadline = time.monotonic() + timeout
    line = ""
    while "listening" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
    assert "listening" in line, proc.stderr.read()
