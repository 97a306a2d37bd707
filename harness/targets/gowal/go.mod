module crashtest/harness/targets/gowal

go 1.19
