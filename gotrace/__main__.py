from gotrace.cli.app import main

main()
