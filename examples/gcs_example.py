"""Sessions on Google Cloud Storage, or on fake-gcs-server.

Real GCS: ``python examples/gcs_example.py gs://my-bucket/app`` with Application
Default Credentials (``gcloud auth application-default login`` or
``GOOGLE_APPLICATION_CREDENTIALS``).
The emulator: ``fake-gcs-server -scheme http -backend memory -port 4443``, then
``STORAGE_EMULATOR_HOST=http://127.0.0.1:4443 python examples/gcs_example.py gs://demo
--create-bucket``.
"""

from __future__ import annotations

import os

from cloud_demo import main

if __name__ == "__main__":
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    # An emulator wants no credentials and accepts any project name.
    options = {"endpoint_url": emulator, "token": "anon", "project": "test"} if emulator else {}
    main(options, __doc__ or "")
