"""``python -m services`` is the ``forklift`` command."""

from services.main import main

main()
