"""The rules editor of the QA window: list, add, edit, enable/disable the centre's rules, and test a
rule against the call library (the matching calls and moments are shown before anything is
saved). Rules are edited as the YAML of one rule, checked as the file is (assist.rulebook); the
file is written only when every rule is valid. The shipped rules are never overwritten: saving
them writes the user's own copy and points the `rules` setting at it.

The built-in rules (cues, escalation advice, the close-the-call checklist, flagged moments) are
in the list too, marked "built-in": they can be switched off or changed, which saves the changed
rule under its id in the centre's file; "Delete" on a changed one puts the built-in back.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import yaml
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout, QWidget)

from ..assist import yamlfile
from ..assist.rulebook import (BUILTIN_RULES, DEFAULT_RULES, Rulebook, evaluate,
                               rule_from_dict, rule_to_dict, save_rules)
from ..errors import CallAssistError
from ..library.report import fmt_time

TEMPLATE = {"id": "new_rule", "name": "What this rule looks for", "speaker": "agent",
            "said": ["a phrase", "another * phrase"],
            "then": {"alert": "What the agent sees", "severity": "medium"}}


class _Signals(QObject):
    tested = Signal(object, object)  # rule id, [(call id, title, RuleMatch)] or an error line


class RulesEditor(QDialog):
    open_call = Signal(str, float)  # call id, seconds: a match the reviewer wants to hear

    def __init__(self, store, config=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Rules — what to look for in calls")
        self.store, self.config = store, config
        self.path = Path((config.rules if config is not None and config.rules else None)
                         or DEFAULT_RULES)
        self.rules: list[dict] = []
        self.builtin: dict[str, dict] = {}  # the built-in rules as shipped, by id
        self.problems: list[str] = []
        self._signals = _Signals()
        self._signals.tested.connect(self._show_test)
        self.testing: threading.Thread | None = None
        self._build()
        self.load()

    # ---- layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Rules (tick to enable)"))
        self.list = QListWidget()
        self.list.setAccessibleName("Rules")
        self.list.currentRowChanged.connect(self._select)
        self.list.itemChanged.connect(self._toggled)
        ll.addWidget(self.list, 1)
        row = QHBoxLayout()
        for text, slot in (("Add", self.add_rule), ("Delete", self.delete_rule)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        ll.addLayout(row)
        split.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("The selected rule (YAML: said, means, speaker, within, mood_below, "
                            "then: alert / category / flag …)"))
        self.edit = QPlainTextEdit()
        self.edit.setAccessibleName("Rule text")
        rl.addWidget(self.edit, 2)
        row = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Check the rule and keep it in the list (not saved yet)")
        self.apply_button.clicked.connect(self.apply)
        row.addWidget(self.apply_button)
        self.test_button = QPushButton("Test on the library")
        self.test_button.setToolTip("Run the rule as written on every stored call")
        self.test_button.clicked.connect(self.test_rule)
        row.addWidget(self.test_button)
        row.addStretch(1)
        rl.addLayout(row)
        self.results_label = QLabel("")
        rl.addWidget(self.results_label)
        self.results = QListWidget()
        self.results.setAccessibleName("Calls and moments the rule matches")
        self.results.itemDoubleClicked.connect(self._open_result)
        rl.addWidget(self.results, 2)
        split.addWidget(right)
        split.setSizes([260, 560])
        outer.addWidget(split, 1)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)
        row = QHBoxLayout()
        row.addStretch(1)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        row.addWidget(self.save_button)
        row.addWidget(close)
        outer.addLayout(row)
        self.resize(900, 600)

    def _say(self, text: str) -> None:
        """A problem or a confirmation under the editor (hidden when there is none)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # ---- the list
    @staticmethod
    def _read(path: Path) -> list[dict]:
        data = yamlfile.load(yamlfile.read_content_file(path, "rules file"), str(path)) or {}
        return [r for r in (data.get("rules") or []) if isinstance(r, dict)] \
            if isinstance(data, dict) else []

    @staticmethod
    def _old_copy(data: dict) -> bool:
        """A rule as the centre's file shipped it before it became built-in (not a change)."""
        from ..assist.rulebook import _replaced
        try:
            return rule_to_dict(rule_from_dict(data).item) == _replaced().get(data.get("id"))
        except CallAssistError:
            return False

    def load(self) -> None:
        """The built-in rules (or the centre's changed copy of one, in its place), then the
        centre's own."""
        self.builtin = {r.get("id"): r for r in self._read(BUILTIN_RULES)}
        own, replacing = [], {}
        for r in self._read(self.path):  # kept in order, broken ones too (the file says why)
            rid = r.get("id")
            if isinstance(rid, str) and rid in self.builtin and rid not in replacing \
                    and not self._old_copy(r):
                replacing[rid] = r
            elif not (isinstance(rid, str) and rid in self.builtin):
                own.append(r)
        self.rules = [copy.deepcopy(replacing.get(i, r)) for i, r in self.builtin.items()] + own
        self.problems = Rulebook.load(self.path).problems
        self._fill()
        if self.problems:
            self._say("\n".join(self.problems))

    def _fill(self, select: int = 0) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for r in self.rules:
            item = QListWidgetItem(self._label(r))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if r.get("enabled", True) else Qt.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        if self.rules:
            self.list.setCurrentRow(min(select, len(self.rules) - 1))

    def _label(self, r: dict) -> str:
        mark = ""
        if r.get("id") in self.builtin:
            mark = " · built-in" + ("" if r == self.builtin[r.get("id")] else ", changed")
        return f"{r.get('name', '?')} ({r.get('id', '?')}){mark}"

    def _select(self, row: int) -> None:
        if 0 <= row < len(self.rules):
            self.edit.setPlainText(yaml.safe_dump(self.rules[row], sort_keys=False,
                                                  allow_unicode=True, width=90))
        self.results.clear()
        self.results_label.setText("")

    def _toggled(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        on = item.checkState() == Qt.Checked
        if on:
            self.rules[row].pop("enabled", None)
        else:
            self.rules[row]["enabled"] = False
        self.list.blockSignals(True)
        item.setText(self._label(self.rules[row]))
        self.list.blockSignals(False)
        if row == self.list.currentRow():
            self._select(row)

    def add_rule(self) -> None:
        ids = {r.get("id") for r in self.rules}
        rule, n = dict(TEMPLATE), 1
        while rule["id"] in ids:
            n += 1
            rule["id"] = f"new_rule_{n}"
        self.rules.append(rule)
        self._fill(len(self.rules) - 1)

    def delete_rule(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self.rules):
            return
        shipped = self.builtin.get(self.rules[row].get("id"))
        if shipped is None:
            del self.rules[row]
        elif self.rules[row] != shipped:
            self.rules[row] = copy.deepcopy(shipped)
            self._say("the built-in rule is back as shipped (Save to keep it so)")
        else:
            self._say("a built-in rule cannot be deleted: untick it to switch it off")
            return
        self._fill(row)

    # ---- editing
    def _edited(self) -> dict:
        """The rule as written in the text box, checked; a ConfigError line if it is not."""
        node = yamlfile.compose_file(self.edit.toPlainText(), "the rule")
        data = yamlfile.construct(node, "the rule") if node is not None else None
        rule_from_dict(data, "the rule")
        return data

    def apply(self) -> bool:
        row = self.list.currentRow()
        try:
            data = self._edited()
        except CallAssistError as exc:
            self._say(str(exc))
            return False
        others = {r.get("id") for i, r in enumerate(self.rules) if i != row}
        if data["id"] in others:
            self._say(f"the id {data['id']} is used by another rule: give this one "
                               f"its own")
            return False
        if 0 <= row < len(self.rules):
            self.rules[row] = data
        else:
            self.rules.append(data)
            row = len(self.rules) - 1
        self._say("")
        self._fill(row)
        return True

    def save(self) -> bool:
        """Write the rules (all valid) to the user's rules file; the shipped one is copied."""
        if self.edit.toPlainText().strip() and not self.apply():
            return False
        target = self.path
        if target.resolve() == DEFAULT_RULES.resolve():
            from ..config import config_path
            target = config_path().parent / "rules.yaml"
        try:  # the built-in rules as shipped stay out of the file: updates reach them
            save_rules(target, [r for r in self.rules if self.builtin.get(r.get("id")) != r])
            if self.config is not None and (self.config.rules or "") != str(target):
                self.config = self.config.save(rules=str(target))
        except CallAssistError as exc:
            self._say(str(exc))
            return False
        except OSError as exc:
            self._say(f"cannot write {target} ({exc.strerror}): check the folder")
            return False
        self.path = target
        self._say(f"Saved to {target}: calls from now on use these rules")
        return True

    # ---- testing against the library
    def test_rule(self) -> None:
        """Run the rule as written over every stored call, in a thread (the window stays
        responsive); the calls and moments it matches are listed."""
        try:
            data = self._edited()
        except CallAssistError as exc:
            self._say(str(exc))
            return
        self._say("")
        rule = rule_from_dict(data, "the rule")
        book = Rulebook(self.path, [rule])
        settings = getattr(self.store, "flag_settings", None)
        self.results.clear()
        self.results_label.setText("Testing on the library…")
        self.test_button.setEnabled(False)

        def run():
            try:
                embedder = None
                if rule.item.means:
                    from ..mood.embeddings import shared_embedder
                    embedder = shared_embedder()
                found = []
                for rec in self.store.list_calls():
                    tl = self.store.load_timeline(rec.id)
                    duration = float(tl.call.get("duration") or rec.duration or 0.0)
                    title = rec.title or rec.id
                    if rule.detector == "moment":  # flagged moments, graded by the detector
                        from ..library.flags import compute_flags
                        found += [(rec.id, title, f.time, f"{f.severity_name}: {f.reason}")
                                  for f in compute_flags(tl, settings, book)
                                  if f.kind == rule.item.detector]
                        continue
                    for m in evaluate(book, tl.events, duration, embedder, cues=True):
                        found.append((rec.id, title, m.time, m.evidence))
                self._signals.tested.emit(rule.id, found)
            except Exception as exc:  # shown in the window, never a dead thread
                self._signals.tested.emit(rule.id, f"the test stopped: {exc}")

        self.testing = threading.Thread(target=run, name="callassist-rule-test", daemon=True)
        self.testing.start()

    def _show_test(self, rule_id: str, found) -> None:
        self.test_button.setEnabled(True)
        if isinstance(found, str):
            self.results_label.setText(found)
            return
        self.found = found
        calls = len({c for c, _, _, _ in found})
        total = len(self.store.list_calls())
        self.results_label.setText(f"{rule_id}: {len(found)} moments in {calls} of {total} calls "
                                   f"(double-click one to hear it)")
        for _, title, time, evidence in found:
            self.results.addItem(f"{title} · {fmt_time(time)} · {evidence}")

    def _open_result(self, item: QListWidgetItem) -> None:
        call_id, _, time, _ = self.found[self.results.row(item)]
        self.open_call.emit(call_id, float(time))
