"""The Qt view: turns user actions into config changes and snapshots into pixels. No numbers are computed here."""
