"""The storage room: everything that touches a study's database or its study.json.

- urls: redaction, passwords (never kept in clear), which URLs workers can share;
- database: Optuna's RDB storage with heartbeats, table creation, study.json, `load_study`;
- claims: the budget lock and counts workers share (never more trials than the budget);
- orphans: trials of a dead process failed and run again, the work-directory lock.
The read side (results, report, dashboard) imports this room, never the study runner.
"""
