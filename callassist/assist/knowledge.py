"""Product knowledge: a folder of Markdown articles, searched with a hybrid of BM25 keywords and
MiniLM sentence embeddings.

An article is a Markdown file with a small YAML header:

    ---
    title: Returns policy
    product: All products
    tags: [returns, refund, 30 days]
    ---
    Summary paragraph…
    ## Section
    Paragraphs…

Each paragraph (with its section heading) is a passage. Articles are ranked by a mix of BM25
over the whole article (title and tags count double) and the best cosine similarity between
the query and any passage or the title; the card shows the passage that matched best and why.
Re-indexing is incremental: only files whose content changed are parsed and embedded again.
A malformed file is reported (file and line) and skipped; the others load: a header that breaks
the `ArticleHeader` schema (title, product, tags; nothing else), uses YAML aliases or tags (read
with `callassist.assist.yamlfile`, so an alias bomb costs nothing), or a file over 1 MB.
"""
from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from typing import Annotated

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from . import yamlfile
from ..errors import ConfigError
from ..paths import cache_dir, private_dir, private_file
from ..resources import shipped

DEFAULT_KB = shipped("content", "knowledge")
# Weights chosen by scripts/tune_knowledge.py on the "tune" half of tests/data/kb_queries.yaml
# (scripts/kb_split.py); hit rates are reported on the other half only.
SEMANTIC_WEIGHT = 0.8  # share of the semantic score in the hybrid (the rest is BM25)
TAG_WEIGHT = 0.3  # share of the best-matching tag in the semantic score (the rest: best passage)
BM25_SCALE = 16.0  # BM25 score at which keyword evidence counts as half-strong
PRODUCT_BONUS = 0.0  # the caller names the product an article is about
MIN_SCORE = 0.35  # below this hybrid score nothing in the base answers the query
MAX_BYTES = 1_000_000  # an article is a few kB; a bigger file is skipped (split it)
MAX_HEADER_NODES = 1_000  # values in one header (title, product and a few tags need ~20)


def _tag_list(v):
    if v is None:
        return []
    return [t.strip() for t in v.split(",") if t.strip()] if isinstance(v, str) else v


class ArticleHeader(BaseModel):
    """The schema of an article's `---` header (strict: a wrong type or an unknown field skips
    the article with a line naming the file and the field)."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: yamlfile.NonEmptyText
    product: Annotated[str, BeforeValidator(lambda v: "" if v is None else v)] = ""
    tags: Annotated[list[Annotated[str, BeforeValidator(yamlfile.number_as_text)]],
                    BeforeValidator(_tag_list)] = []


@dataclass
class Passage:
    section: str
    text: str


@dataclass
class Article:
    id: str
    path: Path
    title: str
    product: str
    tags: list[str]
    passages: list[Passage]
    digest: str
    embeddings: np.ndarray | None = None  # one row per passage, then one for title + tags
    tag_embeddings: np.ndarray | None = None  # one row per tag
    terms: frozenset[str] = frozenset()  # stemmed words of title, tags and body (set at indexing)

    @property
    def body(self) -> str:
        return "\n".join(p.text for p in self.passages)


@dataclass
class Card:
    article: str
    title: str
    product: str
    section: str
    passage: str
    score: float
    why: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def parse_article(path: Path, text: str | None = None) -> Article:
    """Parse one article; raises ConfigError naming the file and line of the problem."""
    text = path.read_text(encoding="utf-8") if text is None else text
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{path}: too big for an article (over {MAX_BYTES // 1_000_000} MB): "
                          f"split it")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path} line 1: no '---' header with title, product and tags")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ConfigError(f"{path} line 1: the '---' header is never closed") from None
    try:
        meta = yamlfile.load("\n" + "\n".join(lines[1:end]), str(path),
                             budget=yamlfile.Budget(MAX_HEADER_NODES))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = min(mark.line + 1, end) if mark else 1  # libyaml: the end of input is a line on
        raise ConfigError(f"{path} line {line}: the header is not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})") from None
    if meta is not None and not isinstance(meta, dict):
        raise ConfigError(f"{path} line 2: the header must be lines like 'title: ...', not "
                          f"{yamlfile.short(meta, 40)}")
    try:
        header = ArticleHeader.model_validate(meta or {})
    except ValidationError as exc:
        if any(e["loc"][:1] == ("title",) and e["type"] in ("missing", "value_error")
               for e in exc.errors()):
            raise ConfigError(f"{path} line 2: the header has no title") from None
        raise ConfigError(f"{path} header: "
                          f"{yamlfile.schema_problem(exc, ArticleHeader.model_fields)}") from None
    passages: list[Passage] = []
    section, para = "", []

    def flush():
        if para:
            body = " ".join(para).strip()
            if body:
                passages.append(Passage(section, body))
            para.clear()

    for line in lines[end + 1:]:
        s = line.strip()
        if s.startswith("#"):
            flush()
            section = s.lstrip("#").strip()
        elif not s:
            flush()
        else:
            para.append(re.sub(r"^[-*]\s+", "", s))
    flush()
    if not passages:
        raise ConfigError(f"{path}: the article has no text below its header")
    return Article(id=path.stem, path=path, title=header.title,
                   product=header.product.strip(), tags=list(header.tags),
                   passages=passages, digest=hashlib.sha1(text.encode()).hexdigest())


def article_markdown(path: Path) -> str:
    """The Markdown of an article below its header ("" if the file is gone or unreadable)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    return text.split("---", 2)[-1].strip() if text.startswith("---") else text


def _tokenizer():
    import Stemmer
    stem = Stemmer.Stemmer("english")
    from bm25s.stopwords import STOPWORDS_EN
    stop = set(STOPWORDS_EN) | {"um", "uh", "yeah", "okay", "ok", "hi", "hello", "please",
                                "thanks", "thank", "like", "just", "so", "really", "my", "me",
                                "you", "your", "we", "our", "is", "was", "were", "be", "been",
                                "do", "does", "did", "have", "has", "had", "can", "could",
                                "would", "where", "what", "how", "when", "why", "get", "got"}

    def tokens(text: str) -> list[str]:
        return stem.stemWords([w for w in re.findall(r"[a-z0-9]+", text.lower())
                               if w not in stop and len(w) > 1])
    return tokens


class _EmbeddingCache:
    """Passage embeddings on disk, keyed by a hash of the text: a restart re-embeds nothing."""

    def __init__(self, path: Path | None):
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path is not None and path.exists():
            try:
                with np.load(path) as data:
                    self.vectors = {k: data[k] for k in data.files}
            except Exception:  # a damaged cache is only a cache
                self.vectors = {}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def embed(self, embedder, texts: list[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.vectors]
        if todo:
            vecs = embedder.encode([texts[i] for i in todo])
            for i, v in zip(todo, vecs):
                self.vectors[keys[i]] = v
            self.dirty = True
        return np.stack([self.vectors[k] for k in keys])

    def save(self, keep: set[str]) -> None:
        if self.path is None or not self.dirty:
            return
        try:
            private_dir(self.path.parent)
            with private_file(self.path) as fh:  # atomic, owner only, like all we write
                np.savez(fh, **{k: v for k, v in self.vectors.items() if k in keep})
            self.dirty = False
        except OSError:
            pass  # read-only home: work without the cache


def _passage_texts(art: Article) -> list[str]:
    return ([f"{p.section}: {p.text}" if p.section else p.text for p in art.passages]
            + [f"{art.title}. {', '.join(art.tags)}"])


class KnowledgeBase:
    def __init__(self, folder: str | Path | None = None, embedder=None, cache: bool = True):
        self.folder = Path(folder) if folder else DEFAULT_KB
        self._embedder = embedder
        self._cache = _EmbeddingCache(cache_dir() / "kb-embeddings-minilm.npz" if cache else None)
        self.articles: dict[str, Article] = {}
        self.problems: list[str] = []  # one line per skipped file
        self._tokens = _tokenizer()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bm25 = None
        self._order: list[str] = []
        self.index_seconds = 0.0
        # One base serves the panel's call and the QA window's imports at once: a refresh
        # (articles edited mid-call) and the searches take turns.
        self._lock = threading.RLock()
        self.refresh()

    @property
    def embedder(self):
        if self._embedder is None:
            from ..mood.embeddings import shared_embedder
            self._embedder = shared_embedder()
        return self._embedder

    def refresh(self) -> bool:
        """Re-read the folder; parse and embed only changed files. True if anything changed."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        if not self.folder.is_dir():
            raise ConfigError(f"knowledge-base folder not found: {self.folder} (choose another in "
                              f"the settings or with --knowledge)")
        t0 = time.perf_counter()
        problems, seen, changed = [], set(), False
        for path in sorted(self.folder.glob("*.md")):
            try:
                if not path.is_file():  # a folder, a device (/dev/zero never ends), a broken link
                    problems.append(f"{path}: not a regular file; skipped")
                    continue
                if path.stat().st_size > MAX_BYTES:
                    problems.append(f"{path}: {path.stat().st_size / 1e6:.1f} MB is too big for "
                                    f"an article (at most {MAX_BYTES // 1_000_000} MB): split it; "
                                    f"skipped")
                    continue
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot be read ({exc.__class__.__name__}); skipped")
                continue
            digest = hashlib.sha1(text.encode()).hexdigest()
            old = self.articles.get(path.stem)
            seen.add(path.stem)
            if old is not None and old.digest == digest:
                continue
            try:
                art = parse_article(path, text)
            except ConfigError as exc:
                problems.append(f"{exc}; skipped")
                self.articles.pop(path.stem, None)
                changed = True
                continue
            art.embeddings = self._cache.embed(self.embedder, _passage_texts(art))
            art.tag_embeddings = (self._cache.embed(self.embedder, art.tags) if art.tags
                                  else np.zeros((0, art.embeddings.shape[1]), np.float32))
            self.articles[art.id] = art
            changed = True
        for gone in set(self.articles) - seen:
            del self.articles[gone]
            changed = True
        self.problems = problems
        if changed or self._bm25 is None:
            self._build_bm25()
            self._cache.save({self._cache.key(t) for a in self.articles.values()
                              for t in _passage_texts(a) + a.tags})
        self.index_seconds = time.perf_counter() - t0
        return changed

    def _build_products(self) -> None:
        """Product words (from the articles' product fields) and the articles about each."""
        self._product_articles: dict[str, set[str]] = {}
        for a in self.articles.values():
            if not a.product or a.product.lower().startswith("all"):
                continue
            for w in re.findall(r"[a-z]+", a.product.lower()):
                if w not in ("and", "the", "smart", "products"):
                    for form in {w, w.rstrip("s")} if len(w) > 4 else {w}:
                        self._product_articles.setdefault(form, set()).add(a.id)
        self._product_re = (re.compile(r"\b(" + "|".join(sorted(map(re.escape, self._product_articles),
                                                              key=len, reverse=True)) + r")s?\b")
                            if self._product_articles else None)

    def _mask_products(self, query: str) -> tuple[str, set[str]]:
        """The query with product names replaced by "it", and the articles about them.

        What the caller says about a product (it never arrived, it won't turn on) decides the
        article; the product itself only breaks ties, so "my laptop never arrived" finds the
        delivery article, not the laptop troubleshooting one.
        """
        if self._product_re is None:
            return query, set()
        found: set[str] = set()

        def sub(m):
            found.update(self._product_articles.get(m.group(1), ()))
            return "it"
        return self._product_re.sub(sub, query.lower()), found

    def _build_bm25(self) -> None:
        import bm25s
        self._build_products()
        self._order = sorted(self.articles)
        docs = []
        for aid in self._order:
            a = self.articles[aid]
            head = f"{a.title} {' '.join(a.tags)} {a.product}"
            docs.append(self._tokens(f"{head} {head} " + " ".join(f"{p.section} {p.text}" for p in a.passages)))
            a.terms = frozenset(self._tokens(f"{a.title} {' '.join(a.tags)} {a.body}"))
        self._bm25 = bm25s.BM25()
        if docs:
            self._bm25.index(docs, show_progress=False)

    def search(self, query: str, k: int = 3) -> list[Card]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 3) -> list[list[Card]]:
        """Cards for several queries at once (the assistant's context window and the latest
        utterance alone): their sentences go through the encoder in one batch."""
        with self._lock:
            prepared = [self._mask_products(q) for q in queries]
            self._embed_query_parts([p for q, _ in prepared for p in self._parts(q)])
            return [self._search(orig, q, products, k)
                    for orig, (q, products) in zip(queries, prepared)]

    @staticmethod
    def _parts(query: str) -> list[str]:
        # A caller often says several things at once; each sentence is matched on its own too,
        # so "I've waited 20 minutes. My laptop never arrived." finds the delivery article.
        parts = [query] + [p for p in re.split(r"(?<=[.?!])\s+", query.strip()) if len(p.split()) >= 4]
        return list(dict.fromkeys(p for p in parts if p.strip()))

    def _search(self, original: str, query: str, product_articles: set[str], k: int) -> list[Card]:
        if not self._order or not original.strip():
            return []
        q_tokens = self._tokens(query)
        q_embs = self._embed_query_parts(self._parts(query))
        bm = (np.asarray(self._bm25.get_scores(q_tokens), dtype=np.float32) if q_tokens
              else np.zeros(len(self._order), np.float32))
        cards = []
        for i, aid in enumerate(self._order):
            a = self.articles[aid]
            sims_all = a.embeddings @ q_embs.T  # passages x query parts
            tags_all = a.tag_embeddings @ q_embs.T if len(a.tag_embeddings) else sims_all
            per_part = (1 - TAG_WEIGHT) * sims_all.max(0) + TAG_WEIGHT * tags_all.max(0)
            part = int(np.argmax(per_part))
            best = int(np.argmax(sims_all[:-1, part]))
            sem = max(0.0, float(per_part[part]))
            kw = float(bm[i] / (bm[i] + BM25_SCALE))
            score = SEMANTIC_WEIGHT * sem + (1 - SEMANTIC_WEIGHT) * kw
            if a.id in product_articles:
                score += PRODUCT_BONUS
            cards.append((score, sem, kw, a, best))
        cards.sort(key=lambda c: -c[0])
        out = []
        stems = {w: self._tokens(w) for w in dict.fromkeys(re.findall(r"[a-z0-9']+", original.lower()))}
        for score, sem, kw, a, best in cards[:k]:
            hits = [w for w, stem in stems.items() if stem and stem[0] in a.terms]
            why = f"meaning {sem:.2f}"
            if hits:
                why = f"words: {', '.join(hits[:5])}; " + why
            p = a.passages[best]
            out.append(Card(a.id, a.title, a.product, p.section, p.text, round(score, 3), why))
        return out

    def _embed_query_parts(self, parts: list[str]) -> np.ndarray:
        """Embeddings of query parts. A part of several sentences (the assistant's context window,
        a long utterance) is the normalised mean of its sentences' embeddings, and each sentence
        is embedded once and remembered for a while: during a call the same caller sentences come
        back in the next queries. Embedding the whole window again for every utterance cost four
        times what Whisper did on a busy machine (128 tokens, one thread)."""
        sentences = {p: self._sentences(p) for p in parts}
        todo = list(dict.fromkeys(x for p in parts for x in sentences[p] if x not in self._recent))
        if todo:
            for x, v in zip(todo, self.embedder.encode(todo)):
                self._recent[x] = v
        out = []
        for p in parts:
            vecs = [self._recent[x] for x in sentences[p]]
            for x in sentences[p]:
                self._recent.move_to_end(x)
            v = vecs[0] if len(vecs) == 1 else np.mean(vecs, axis=0)
            out.append(v / max(float(np.linalg.norm(v)), 1e-9))
        while len(self._recent) > 512:
            self._recent.popitem(last=False)
        return np.stack(out)

    @staticmethod
    def _sentences(text: str) -> list[str]:
        found = [x for x in re.split(r"(?<=[.?!])\s+", text.strip()) if x.strip()]
        return found or [text]

    def answers(self, cards: list[Card]) -> bool:
        """Whether the best card is good enough to count as the base knowing the answer."""
        return bool(cards) and cards[0].score >= MIN_SCORE


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[\"“(\[A-Z0-9$])")


def passage_sentences(passage: str) -> list[str]:
    """The sentences of a passage (a numbered or bulleted step is one sentence)."""
    out = []
    for line in passage.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s+", "", line).strip()
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


@functools.lru_cache(maxsize=1)
def _shared_tokenizer():
    return _tokenizer()


def answer_sentence(passage: str, query: str) -> str:
    """The one sentence of a matched passage that answers the query best: the most query words
    (stemmed, rare-in-the-passage words count more), the earliest on a tie, the first sentence
    when no word is shared. Cheap enough for every card (no encoder pass)."""
    sentences = passage_sentences(passage)
    if len(sentences) <= 1:
        return sentences[0] if sentences else passage.strip()
    tokens = _shared_tokenizer()
    wanted = set(tokens(query or ""))
    per = [set(tokens(s)) for s in sentences]
    df = {t: sum(t in p for p in per) for t in wanted}
    best, best_score = 0, 0.0
    for i, terms in enumerate(per):
        score = sum(1.0 / df[t] for t in terms & wanted)
        if score > best_score + 1e-9:
            best, best_score = i, score
    return sentences[best]
