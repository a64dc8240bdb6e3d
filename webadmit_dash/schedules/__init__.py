"""Schedules and the watchdog: exports run at set times in the institution's time zone (started with E4, audited as
Run again is, from the key's budget), WebAdMIT's callback when a run started here is ready, and expectations ("a
good run by 07:00 on weekdays") whose misses are told.
"""
