"""The app's container image: built once from app/Dockerfile with buildah (build.py), tagged by one rule, the
git commit (tag.py), and served by a stand-in for ECR on loopback (registry.py).

    python -m image build|push [--allow-dirty]     # see build.py
    python -m image.registry start|stop            # see registry.py
"""
