service {
  name = "web"
  port = 8080
  tags = ["v1"]
  check { ttl = "30s" }
  connect { sidecar_service {} }
}
