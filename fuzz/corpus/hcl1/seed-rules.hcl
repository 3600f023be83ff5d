service_prefix "" { policy = "read" }
service "web" { policy = "write" intentions = "read" }
key_prefix "app/" { policy = "list" }
node "n1" { policy = "write" }
operator = "read"
