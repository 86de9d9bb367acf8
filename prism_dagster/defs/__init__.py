"""Everything Dagster: assets, IO manager, resources, jobs, schedules, sensors and checks."""
