{
  description = "photo_organizer: sort a photo library into one folder per person";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.cargo pkgs.rustc pkgs.clippy pkgs.rustfmt pkgs.python3 pkgs.python3Packages.pip pkgs.nodejs pkgs.onnxruntime pkgs.cmake pkgs.nasm pkgs.exiftool pkgs.ffmpeg ];
          # Use nixpkgs' ONNX Runtime instead of the one `photo_organizer setup` fetches.
          ORT_DYLIB_PATH = "${pkgs.onnxruntime}/lib/libonnxruntime${pkgs.stdenv.hostPlatform.extensions.sharedLibrary}";
        };
      });
    };
}
