"""A call report as PDF: the HTML report laid out by Qt's rich-text engine on A4 pages.

Works without a window (the command line calls it): a QGuiApplication is made when there is
none, on the "offscreen" platform when there is no screen.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (QColor, QFont, QGuiApplication, QImage, QPageLayout, QPageSize, QPainter,
                           QPdfWriter, QTextDocument)
from PySide6.QtSvg import QSvgRenderer

from ..errors import CallAssistError
from ..library.report import ReportData, fmt_time, html_report, mood_svg, write_bytes_atomic

MARGINS_MM = QMarginsF(14, 14, 14, 12)  # left, top, right, bottom (the footer sits inside)
RESOLUTION = 300  # dpi of the PDF's coordinate system (text and vectors stay sharp anyway)
SCREEN_DPI = 96.0  # the unit of the HTML layout: CSS pixels
FOOTER_PT = 7.5
IMAGE_NAME = "mood.png"

_app = None  # the application made here, kept alive for later reports


def _ensure_app() -> None:
    global _app
    if QGuiApplication.instance() is not None:
        return
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY")
            or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no screen: render off screen
    try:  # a QApplication where widgets are installed: later code in the process may need them
        from PySide6.QtWidgets import QApplication
    except ImportError:
        QApplication = QGuiApplication
    _app = QApplication(["callassist"])


def _mood_image(data: ReportData, width: int, height: int, scale: float = 2.0) -> QImage:
    """The mood curve rendered from its SVG, `scale` times the size it is shown at."""
    renderer = QSvgRenderer(QByteArray(mood_svg(data, width, height).encode("utf-8")))
    image = QImage(int(width * scale), int(height * scale), QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.TextAntialiasing)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    image.setDevicePixelRatio(scale)
    return image


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes (A4, numbered pages)."""
    _ensure_app()
    buf = QBuffer()
    buf.open(QIODevice.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait, MARGINS_MM,
                                     QPageLayout.Millimeter))
    writer.setTitle(f"{data.title} – call report")
    writer.setCreator("CallAssist")

    paint = writer.pageLayout().paintRectPixels(RESOLUTION)  # the page inside the margins
    scale = RESOLUTION / SCREEN_DPI  # CSS pixel -> PDF device pixel
    footer_h = FOOTER_PT / 72.0 * RESOLUTION * 2.2
    page_w = paint.width() / scale
    page_h = (paint.height() - footer_h) / scale

    doc = QTextDocument()
    doc.setDocumentMargin(0)
    font = QFont("DejaVu Sans")
    font.setStyleHint(QFont.SansSerif)
    font.setPointSizeF(10)
    doc.setDefaultFont(font)
    img_w = int(page_w) - 2
    doc.addResource(QTextDocument.ImageResource, QUrl(IMAGE_NAME),
                    _mood_image(data, img_w, int(img_w * 0.27)))
    doc.setHtml(html_report(data, image_src=IMAGE_NAME, image_width=img_w))
    doc.setPageSize(QSizeF(page_w, page_h))  # lays the document out in pages of this size
    pages = max(1, doc.pageCount())

    painter = QPainter()
    if not painter.begin(writer):
        raise CallAssistError("cannot start the PDF writer: check that Qt's PDF support is "
                              "installed (scripts/setup.sh)")
    try:
        foot_font = QFont(font)
        foot_font.setPointSizeF(FOOTER_PT)
        for i in range(pages):
            if i:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(0, -i * page_h)
            doc.drawContents(painter, QRectF(0, i * page_h, page_w, page_h))
            painter.restore()
            # the footer: what this is, and the page number
            painter.save()
            painter.setFont(foot_font)
            painter.setPen(QColor("#777777"))
            painter.drawLine(QPointF(0, paint.height() - footer_h * 0.8),
                             QPointF(paint.width(), paint.height() - footer_h * 0.8))
            left = f"{data.title} · {fmt_time(data.duration)} · call {data.record.id}"
            painter.drawText(QRectF(0, paint.height() - footer_h * 0.75, paint.width() * 0.8,
                                    footer_h * 0.7), Qt.AlignLeft | Qt.AlignVCenter,
                             painter.fontMetrics().elidedText(left, Qt.ElideRight,
                                                              int(paint.width() * 0.78)))
            painter.drawText(QRectF(paint.width() * 0.8, paint.height() - footer_h * 0.75,
                                    paint.width() * 0.2, footer_h * 0.7),
                             Qt.AlignRight | Qt.AlignVCenter, f"page {i + 1} of {pages}")
            painter.restore()
    finally:
        painter.end()
    buf.close()
    return bytes(buf.data())


def write_pdf(data: ReportData, path) -> None:
    """The report as an A4 PDF at `path`, written atomically; a path that cannot be written is
    a CallAssistError with a one-line message."""
    target = Path(path).expanduser()
    if not target.parent.exists():  # say so before the work of laying out the report
        raise CallAssistError(f"cannot write the PDF report to {target}: the folder "
                              f"{target.parent} does not exist; create it or choose another file")
    write_bytes_atomic(target, render_pdf(data), "PDF report")
