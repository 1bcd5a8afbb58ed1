"""Funding-flip monitor: a guardian that closes funding positions once funding turns against
them, when closing costs less than the adverse funding expected."""

from strategies.flip_monitor.config import FlipMonitorConfig
from strategies.flip_monitor.monitor import FundingFlipMonitor, MonitorDecision
from strategies.flip_monitor.state import FlipMonitorState

__all__ = ["FlipMonitorConfig", "FlipMonitorState", "FundingFlipMonitor", "MonitorDecision"]
