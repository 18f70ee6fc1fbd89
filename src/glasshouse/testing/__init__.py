"""The independent testing API (Washington SB 6280): accuracy on caller-supplied labelled pairs."""
