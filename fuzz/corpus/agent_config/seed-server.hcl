datacenter = "dc1"
data_dir = "/var/lib/tessera"
server = true
bootstrap_expect = 3
ports { http = 8500 dns = 8600 }
acl { enabled = true default_policy = "deny" tokens { agent = "secret" } }
node_meta { rack = "a" }
retry_join = ["10.0.0.2", "10.0.0.3"]
