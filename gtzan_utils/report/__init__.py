"""Chapter 06 (results): Table 1 beside the paper's figures, the overview figure, predicting a song."""
