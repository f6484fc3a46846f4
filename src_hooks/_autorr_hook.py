"""Start-up hook that site-packages runs (through ``autorr.pth`` or ``autorr.start``).

It must stay nearly free when autorr is off: the check lives in the ``.pth`` line
itself, and this module is imported only when ``AUTORR_MODE`` asks for autorr.
"""

import os


def boot():
    try:
        from autorr._bootstrap import boot_from_environment
    except ImportError:  # package removed but the hook left behind: never break Python
        return
    boot_from_environment()


def boot_if_enabled():
    # PEP 829 entry point (Python 3.15+), which replaces the .pth import line.
    if (os.environ.get("AUTORR_MODE") or "off").strip().lower() != "off":
        boot()
