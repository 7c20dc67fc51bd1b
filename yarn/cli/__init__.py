"""The YARN commands: `emrlab node`, `application`, `logs`, `rmadmin`."""
