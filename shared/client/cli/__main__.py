from shared.client.cli import entry

entry()
