{
  "targets": [
    {
      "target_name": "eclipse_native",
      "sources": ["native/engine.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/torch-config.mjs include)"
      ],
      "libraries": ["<!@(node scripts/torch-config.mjs libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "ECLIPSE_CUDA=<!(node scripts/torch-config.mjs cuda)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["<!@(node scripts/torch-config.mjs cflags)", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
