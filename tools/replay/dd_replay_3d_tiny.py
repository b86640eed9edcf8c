#!/usr/bin/env python3
"""DD's own do_run for a 3D settings file, with the tiny depth models of the project's fixtures.

../shared/tools/dd_replay.py runs Disco Diffusion v5.7's do_run unchanged. In 3D mode DD builds its depth networks
at their published sizes (MiDaS DPTDepthModel(backbone='vitl16_384') in init_midas_depth_model, AdaBins
UnetAdaptiveBins.build(n_bins=256) in every InferenceHelper), which a test suite cannot hold or afford to run. This
wrapper changes only those two constructors, so that DD builds the tiny configurations of the same architectures
that tools/fixtures/make_midas_fixtures.py and make_adabins_fixtures.py define, and then loads the weights DD's code
loads (--midas FILE through MiDaS' BaseModel.load, --adabins FILE through AdaBins' model_io.load_checkpoint):
tests/fixtures/midas/tiny_dpt.pt and tests/fixtures/adabins/tiny_adabins.pt. Everything else, DD's frame loop,
transforms, mixing, warps, turbo and VR included, is DD's code as dd_replay.py runs it.

Usage: the arguments of dd_replay.py, e.g.
  DISCO_REF=$REF DISCO_REF3D=reference/ref3d /usr/bin/python3 tools/replay/dd_replay_3d_tiny.py \\
    --disco-py $REF/disco.py --settings tests/replay/d1_3d_camera.json --out OUT --model ... --clip ... \\
    --secondary secondary.pth --midas tests/fixtures/midas/tiny_dpt.pt --adabins tests/fixtures/adabins/tiny_adabins.pt
(tests/replay/README.md has the commands the committed cases were made with).
"""
import importlib.util
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get('DISCO_SHARED', os.path.join(os.path.dirname(ROOT), 'shared'))


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def patch_depth_constructors(replay, ref3d):
    midas_fx = load_module('make_midas_fixtures', os.path.join(ROOT, 'tools/fixtures/make_midas_fixtures.py'))
    ada_fx = load_module('make_adabins_fixtures', os.path.join(ROOT, 'tools/fixtures/make_adabins_fixtures.py'))
    import_3d = replay.import_3d

    def tiny_import_3d():
        ns = import_3d()                       # DD's sys.path and imports, as dd_replay.py sets them up
        sys.path.insert(0, os.path.join(ref3d, 'gen-efficientnet-pytorch'))
        m = midas_fx.import_reference(ref3d)

        def tiny_dpt_depth_model(path=None, backbone='vitl16_384', non_negative=True, **kw):
            assert backbone == 'vitl16_384' and non_negative, 'the tiny MiDaS stands in for dpt_large only'
            model = midas_fx.tiny_dpt(m)
            model.load(path)                    # MiDaS' BaseModel.load, as DPTDepthModel(path=...) calls it
            return model
        ns.DPTDepthModel = tiny_dpt_depth_model

        ref = adabins_modules()
        import infer                            # AdaBins' infer.py: InferenceHelper builds UnetAdaptiveBins.build(...)

        class TinyUnetAdaptiveBins:
            @staticmethod
            def build(n_bins, **kwargs):
                assert n_bins == 256
                base = ada_fx.tiny_efficientnet(ref)
                base.global_pool, base.classifier = torch.nn.Identity(), torch.nn.Identity()   # as build() does
                return ada_fx.tiny_unet(ref, base)
        infer.UnetAdaptiveBins = TinyUnetAdaptiveBins
        return ns
    replay.import_3d = tiny_import_3d


def adabins_modules():
    """The modules make_adabins_fixtures' builders read (its import_reference, without re-importing DD's)."""
    import geffnet.gen_efficientnet as gen
    import models.unet_adaptive_bins as uab
    return types.SimpleNamespace(gen=gen, uab=uab)


def main():
    replay = load_module('dd_replay', os.path.join(SHARED, 'tools/dd_replay.py'))
    patch_depth_constructors(replay, replay.REF3D)
    replay.main()


if __name__ == '__main__':
    main()
