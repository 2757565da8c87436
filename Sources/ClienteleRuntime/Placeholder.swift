public enum _PlaceholderClienteleRuntime {}
