from yonos_bench.cli import main

main()
