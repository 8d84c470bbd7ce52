"""Sessions on Azure Blob Storage, or on Azurite.

Real Azure: ``AZURE_STORAGE_ACCOUNT_NAME=myaccount python examples/azure_example.py
az://my-container/app`` signs in with DefaultAzureCredential (or set
``AZURE_STORAGE_CONNECTION_STRING`` / ``AZURE_STORAGE_ACCOUNT_KEY``).
Azurite: ``npx azurite-blob --blobHost 127.0.0.1 --blobPort 10000 --inMemoryPersistence``,
then set ``AZURE_STORAGE_CONNECTION_STRING`` to its development connection string
(``UseDevelopmentStorage=true`` works) and run
``python examples/azure_example.py az://demo --create-bucket``.
"""

from __future__ import annotations

from cloud_demo import main

if __name__ == "__main__":
    main({}, __doc__ or "")  # adlfs reads the AZURE_STORAGE_* variables itself
