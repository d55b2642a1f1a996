"""Reports (pipeline layer 5): text tables and plots of what the other layers computed.

:mod:`memsim.report.plots` is the only module of memsim that imports matplotlib (lazily).
"""

from memsim.report.text import format_value, table, to_json

__all__ = ["format_value", "table", "to_json"]
