"""The clock: work periods, pauses, activity and idle, limits, timesheets."""
