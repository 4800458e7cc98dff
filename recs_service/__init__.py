"""The online path: the recommendation caches, the request logic, the HTTP API and the Lambda handler.

It imports neither Dagster nor anything of the pipeline (tested in a fresh interpreter), so a Lambda
package or an API image needs boto3 (and FastAPI for the HTTP API), not the training stack. The
pipeline publishes through thin Dagster resources over these caches (``recs_assets.serving.cache``).
"""
