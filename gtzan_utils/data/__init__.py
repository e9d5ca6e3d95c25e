"""Chapter 01 (data exploration): find, download, validate and read audio; the embedded synthetic GTZAN."""
