"""Reference data more than one service reads, from the files the project carries (never from
outside the project): read-only, loaded once per process."""
