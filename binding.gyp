{
  "targets": [
    {
      "target_name": "tap_native",
      "sources": ["native/tap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
