"""The learned ranking stage: features of every candidate as of a cut-off, a ranker fitted on the
weeks that follow past cut-offs, and scored lists."""
