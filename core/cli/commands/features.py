HELP = "Print what this lamina supports (assembled from the enabled plugins) as JSON."
PARAMS = ()


def main(g):
    import json

    from lamina.features import features

    print(json.dumps(features(), indent=2))
    return 0
