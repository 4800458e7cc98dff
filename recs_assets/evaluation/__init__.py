"""Evaluation: held-out metrics over the full catalogue, a popularity baseline, RecList, the gate."""
