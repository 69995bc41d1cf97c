import sys

try:
    from verify.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports verify: the same code and line as after
    sys.stderr.write("\nverify: interrupted (Ctrl-C)\n")
    sys.exit(130)

sys.exit(main())
