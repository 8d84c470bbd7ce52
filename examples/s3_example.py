"""Sessions on Amazon S3 or an S3-compatible server (moto, MinIO, R2, Ceph).

Real S3: ``python examples/s3_example.py s3://my-bucket/app`` with the usual AWS
credentials (``AWS_PROFILE`` or ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``).
A local server: ``moto_server -H 127.0.0.1 -p 5000`` (or MinIO), then
``AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x
python examples/s3_example.py s3://demo --create-bucket``.
"""

from __future__ import annotations

import os

from cloud_demo import main

if __name__ == "__main__":
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    main({"endpoint_url": endpoint} if endpoint else {}, __doc__ or "")
