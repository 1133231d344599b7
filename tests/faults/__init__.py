"""Fault scenarios: every way the project knows a run or its files can be hurt, injected for
real. `make faults` (`pytest -m faults`) runs them alone; `make test` runs them with the rest.

Here: killed workers and apps (test_recovery), damaged checkpoints and a full disk
(test_damaged_files), NaN (test_divergence), malicious pickles (test_malicious_pickles) and a
frozen worker whose run was resumed elsewhere (test_fencing). Marked ``faults`` where they sit
beside the feature they break: killed workers and dead apps (integration/test_jobs), a killed
DDP rank (integration/test_ddp), a killed sweep worker (integration/test_sweep), a read-only
home (integration/test_bad_input), a checkpoint save killed between its renames
(unit/test_checkpoint_device), path escapes (unit/test_paths) and hostile uploads
(app/test_data_runs_compare_playground).
"""
