policy = <<EOF
service "web" { policy = "write" }
EOF
x = "${var.a} and $${b} %{ if true }y%{ endif }"
