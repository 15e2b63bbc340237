"""Finding Vosk models on disk, and downloading the official small English model."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .vosk_engine import check_vosk_model_dir
from ..errors import CallAssistError, ModelError
from ..paths import private_dir, vosk_model_roots

SMALL_EN_URL = "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
SMALL_EN_SHA256 = "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"


def _is_model(path: Path) -> bool:
    try:
        check_vosk_model_dir(path)
        return True
    except ModelError:
        return False


def find_vosk_model(explicit: str | Path | None = None, roots: list[Path] | None = None) -> Path | None:
    """The model to use: the explicit folder (validated), else the first model in the roots."""
    if explicit:
        return check_vosk_model_dir(Path(explicit))
    for root in roots if roots is not None else vosk_model_roots():
        if _is_model(root):
            return root
        if root.is_dir():
            for sub in sorted(root.iterdir()):
                if sub.is_dir() and _is_model(sub):
                    return sub
    return None


def broken_vosk_models(roots: list[Path] | None = None) -> list[Path]:
    """Folders in the model roots that are not usable Vosk models (an unfinished download or
    unpack, a folder emptied by hand): said to the user when no good model is found."""
    broken = []
    for root in roots if roots is not None else vosk_model_roots():
        if root.is_dir() and not _is_model(root):
            broken += [sub for sub in sorted(root.iterdir()) if sub.is_dir()
                       and not sub.name.startswith(".") and not _is_model(sub)]
    return broken


class DownloadError(CallAssistError):
    pass


def download_model(url: str = SMALL_EN_URL, sha256: str | None = SMALL_EN_SHA256,
                   dest: Path | None = None, progress: bool = True, timeout: float = 60) -> Path:
    """Download a zipped Vosk model, check its SHA-256, unpack it into `dest`; return the folder."""
    from tqdm import tqdm

    dest = Path(dest) if dest else vosk_model_roots()[-1]
    private_dir(dest)
    name = Path(urllib.request.urlparse(url).path).name or "model.zip"
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = Path(tmp) / name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"could not download {url} ({reason}): check the internet connection "
                                f"or download the zip by hand and unpack it into {dest}") from None
        if sha256 and digest.hexdigest() != sha256.lower():
            raise DownloadError(f"{name} is corrupt (SHA-256 {digest.hexdigest()[:12]}… expected "
                                f"{sha256[:12]}…): run the download again")
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (Path(tmp) / "unpacked" / member).resolve()
                    if not str(target).startswith(str((Path(tmp) / "unpacked").resolve())):
                        raise DownloadError(f"{name} contains an unsafe path {member!r}: not unpacked")
                zf.extractall(Path(tmp) / "unpacked")
        except zipfile.BadZipFile:
            raise DownloadError(f"{name} is not a zip archive: check the URL") from None
        unpacked = Path(tmp) / "unpacked"
        entries = [p for p in unpacked.iterdir()]
        model_root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        check_vosk_model_dir(model_root)
        final = dest / (model_root.name if model_root is not unpacked else Path(name).stem)
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(model_root), final)
    return final
